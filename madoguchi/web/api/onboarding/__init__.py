"""Onboarding as the API shows it: Embedded Signup, numbers' health, disconnecting."""
