"""The API of the justice track: legal proceedings and court hearings."""
