"""The partner-agency REST API: its machinery, and the serializers, filters and views of each domain app."""
