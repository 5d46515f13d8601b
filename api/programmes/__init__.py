"""The API over programmes, enrolments, stages and follow-ups."""
