"""The API of the lifecycle services: registering arrivals."""
