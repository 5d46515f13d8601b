from django.conf import settings
from django.views.i18n import LANGUAGE_QUERY_PARAMETER, set_language

from accounts.middleware import SESSION_LANGUAGE_KEY
from accounts.services import user_language_set


def language_set(request):
    """Django's set_language (cookie and redirect), and for a signed-in user a lasting choice."""
    response = set_language(request)
    language = request.POST.get(LANGUAGE_QUERY_PARAMETER) if request.method == "POST" else None
    if request.user.is_authenticated and language in {code for code, _name in settings.LANGUAGES}:
        user_language_set(user=request.user, language=language)
        request.session[SESSION_LANGUAGE_KEY] = language
    return response
