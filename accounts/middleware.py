from urllib.parse import urlencode

from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils import translation

from accounts.two_factor import two_factor_pending

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


class StaffTwoFactorMiddleware:
    """Holds back a user who still owes the second factor (see accounts.two_factor).

    Goes after django_otp's OTPMiddleware. Such a user reaches only the pages that
    let them finish or leave: entering or enrolling a code, signing in or out, the
    language chooser. Any other page sends them to the code first. Under /api/ the
    session is simply not honoured, so DRF's session authentication cannot stand
    in for the missing factor; a token still authenticates as before.
    """

    OPEN_URL_NAMES = (
        "two_factor:verify",
        "two_factor:enrol",
        "admin:login",
        "admin:logout",
        "rest_framework:login",
        "rest_framework:logout",
        "accounts:language_set",
        "set_language",
    )

    def __init__(self, get_response):
        self.get_response = get_response
        self._open_paths = None

    def open_paths(self) -> frozenset[str]:
        # Resolved on first use: the URLconf is not loaded yet when middleware is built.
        if self._open_paths is None:
            self._open_paths = frozenset(reverse(name) for name in self.OPEN_URL_NAMES)
        return self._open_paths

    def __call__(self, request):
        if two_factor_pending(request) and request.path not in self.open_paths():
            if request.path.startswith("/api/"):
                self.as_anonymous(request)
            else:
                query = urlencode({"next": request.get_full_path()})
                return HttpResponseRedirect(f"{reverse('two_factor:verify')}?{query}")
        return self.get_response(request)

    @staticmethod
    def as_anonymous(request) -> None:
        anonymous = AnonymousUser()

        async def auser():
            return anonymous

        request.user = anonymous
        request.auser = auser
