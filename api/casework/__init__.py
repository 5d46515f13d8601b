"""The API over people, families, cases, consent, referrals and closure."""
