from django.contrib.auth.signals import user_logged_in
from django.dispatch import receiver

from accounts.middleware import SESSION_LANGUAGE_KEY
from accounts.selectors import user_language


@receiver(user_logged_in, dispatch_uid="accounts.language_on_login")
def language_on_login(sender, request, user, **kwargs):
    # Read once per login and kept in the session, so that admin pages cost no extra query.
    language = user_language(user)
    if request is not None and language:
        request.session[SESSION_LANGUAGE_KEY] = language
