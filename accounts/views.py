import logging
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import admin, messages
from django.contrib.auth.views import LoginView
from django.http import HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.decorators import method_decorator
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.i18n import LANGUAGE_QUERY_PARAMETER, set_language

from accounts import two_factor
from accounts.forms import TokenForm
from accounts.middleware import SESSION_LANGUAGE_KEY
from accounts.services import user_language_set

logger = logging.getLogger(__name__)


def language_set(request):
    """Django's set_language (cookie and redirect), and for a signed-in user a lasting choice."""
    response = set_language(request)
    language = request.POST.get(LANGUAGE_QUERY_PARAMETER) if request.method == "POST" else None
    if request.user.is_authenticated and language in {code for code, _name in settings.LANGUAGES}:
        user_language_set(user=request.user, language=language)
        request.session[SESSION_LANGUAGE_KEY] = language
    return response


# --- Two-factor sign-in ---------------------------------------------------------------


WRONG_CODE = gettext_noop("That code is wrong or has expired. Enter the newest code from your app.")
HELD_BACK = gettext_noop("Too many wrong codes. Wait a minute, then enter the newest code.")


def _with_next(url_name: str, next_url: str) -> str:
    return f"{reverse(url_name)}?{urlencode({'next': next_url})}"


def _page(request, template: str, context: dict, *, status: int = 200):
    # The admin's look and language chooser, without its menus: nothing behind them opens yet.
    context = {"site_header": admin.site.site_header, "site_title": admin.site.site_title, **context}
    return render(request, template, context, status=status)


def _where_to(request):
    """Where a visitor of the two-factor pages belongs, if not on them; None if they do belong."""
    next_url = two_factor.next_url(request)
    if not request.user.is_authenticated:
        return HttpResponseRedirect(_with_next("admin:login", next_url))
    if not two_factor.two_factor_pending(request):
        return HttpResponseRedirect(next_url)
    return None


@sensitive_post_parameters("token")
@never_cache
def two_factor_verify(request):
    """The second step of signing in: a code from the authenticator app."""
    redirect = _where_to(request)
    if redirect is not None:
        return redirect
    next_url = two_factor.next_url(request)
    if not two_factor.confirmed_devices(request.user):
        return HttpResponseRedirect(_with_next("two_factor:enrol", next_url))
    form = TokenForm(request.POST if request.method == "POST" else None)
    if form.is_valid():
        # While django-otp holds codes back after wrong ones, even the right code is refused: say so.
        held_back = two_factor.throttled(request.user)
        device = two_factor.device_verify(request.user, form.cleaned_data["token"])
        if device is not None:
            two_factor.session_verify(request, device)
            return HttpResponseRedirect(next_url)
        logger.warning("Two-factor code refused for user %s", request.user.pk)
        form.add_error("token", _(HELD_BACK if held_back else WRONG_CODE))
    return _page(
        request,
        "accounts/two_factor_verify.html",
        {"title": _("Two-factor sign-in"), "form": form, "next": next_url},
        status=400 if form.errors else 200,
    )


@sensitive_post_parameters("token")
@never_cache
def two_factor_enrol(request):
    """First sign-in of a user who must give a code but has no device: set one up now.

    Only while the user has no confirmed device: with one, a password alone must
    not be enough to add another.
    """
    redirect = _where_to(request)
    if redirect is not None:
        return redirect
    next_url = two_factor.next_url(request)
    if two_factor.confirmed_devices(request.user):
        return HttpResponseRedirect(_with_next("two_factor:verify", next_url))
    device = two_factor.enrolment_device(request.user)
    form = TokenForm(request.POST if request.method == "POST" else None)
    if form.is_valid():
        held_back = not device.verify_is_allowed()[0]
        if two_factor.enrolment_confirm(device, form.cleaned_data["token"]):
            device.refresh_from_db()
            two_factor.session_verify(request, device)
            messages.success(request, _("Two-factor sign-in is set up. You will be asked for a code at each sign-in."))
            return HttpResponseRedirect(next_url)
        form.add_error("token", _(HELD_BACK if held_back else WRONG_CODE))
    config_url = device.config_url
    return _page(
        request,
        "accounts/two_factor_enrol.html",
        {
            "title": _("Set up two-factor sign-in"),
            "form": form,
            "next": next_url,
            "qr_code": two_factor.qr_code_data_uri(config_url),
            "secret": two_factor.secret_base32(device),
        },
        status=400 if form.errors else 200,
    )


@method_decorator(never_cache, name="dispatch")
class ApiLoginView(LoginView):
    """The browsable API's sign-in (DRF's form), followed by the code for those who owe one."""

    template_name = "rest_framework/login.html"

    def get(self, request, *args, **kwargs):
        # The browsable API links here when it answers 401; one who owes only the code goes to it.
        if two_factor.two_factor_pending(request):
            return HttpResponseRedirect(self.get_success_url())
        return super().get(request, *args, **kwargs)

    def get_success_url(self):
        url = super().get_success_url()
        user = self.request.user
        if two_factor.two_factor_required(user) and not two_factor.is_verified(user):
            return _with_next("two_factor:verify", url)
        return url


def locked_out(request, original_response=None, credentials=None):
    """What django-axes answers a locked-out sign-in (AXES_LOCKOUT_CALLABLE): a page, not an error."""
    minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)
    return _page(
        request,
        "accounts/locked_out.html",
        {"title": _("Sign-in locked"), "cooloff_minutes": minutes},
        status=settings.AXES_HTTP_RESPONSE_CODE,
    )
