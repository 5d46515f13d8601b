from axes.models import AccessAttempt
from django.contrib.auth.signals import user_logged_in
from django.db.models.signals import pre_save
from django.dispatch import receiver

from accounts.middleware import SESSION_LANGUAGE_KEY
from accounts.selectors import user_language


@receiver(user_logged_in, dispatch_uid="accounts.language_on_login")
def language_on_login(sender, request, user, **kwargs):
    # Read once per login and kept in the session, so that admin pages cost no extra query.
    language = user_language(user)
    if request is not None and language:
        request.session[SESSION_LANGUAGE_KEY] = language


@receiver(pre_save, sender=AccessAttempt, dispatch_uid="accounts.attempt_scrub")
def attempt_scrub(sender, instance, **kwargs):
    # Axes copies each failed attempt's query string and form fields (a body, a
    # "next" link); username, address and time are all the lockout needs.
    instance.get_data = ""
    instance.post_data = ""
