"""The caseworkers' admin: the pages, forms, inlines, filters and actions of every domain app."""
