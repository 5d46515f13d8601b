"""What spans a case's records and its programme work: closure, reassignment of the
whole case, retention, subject access and the personal-data scan."""
