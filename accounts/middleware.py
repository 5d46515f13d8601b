from django.conf import settings
from django.utils import translation

SESSION_LANGUAGE_KEY = "accounts_language"


class UserLanguageMiddleware:
    """The signed-in user's stored language wins over the cookie and the browser's Accept-Language.

    Goes after AuthenticationMiddleware and LocaleMiddleware. The language sits in the
    session from login on (see signals), so a new browser or device gets it too.
    """

    def __init__(self, get_response):
        self.get_response = get_response
        self.languages = {code for code, _name in settings.LANGUAGES}

    def __call__(self, request):
        session = getattr(request, "session", None)
        language = session.get(SESSION_LANGUAGE_KEY) if session is not None else None
        if language in self.languages:
            translation.activate(language)
            request.LANGUAGE_CODE = language
        return self.get_response(request)
