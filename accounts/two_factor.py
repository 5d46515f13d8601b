"""Who must give a second factor (a TOTP code) after the password, and the devices that give it.

Administrators and supervisors must: they see and approve the most. With
``STAFF_OTP_REQUIRED_FOR_ALL`` everybody who signs in with a password must. A
user who has a confirmed device is asked for it whatever their role, or the
device would protect nothing. Roles are read from data on every request (see
core.roles), so a new supervisor is asked on their next page, not their next
sign-in. API calls with a token are not concerned: the token is the credential.
"""

from __future__ import annotations

import base64
import io
from base64 import b32encode

from django.conf import settings
from django.db import transaction
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django_otp import devices_for_user, user_has_device
from django_otp import login as otp_login
from django_otp.plugins.otp_totp.models import TOTPDevice

from core import roles
from core.roles import is_administrator, programme_ids_for

ENROLLED_DEVICE_NAME = "Authenticator app"
_REQUIRED_CACHE = "_two_factor_required"


def two_factor_required(user) -> bool:
    if not user.is_authenticated or not user.is_active:
        return False
    if settings.STAFF_OTP_REQUIRED_FOR_ALL or is_administrator(user):
        return True
    # Supervisors, and legal officers who read people's charges, sign in with a second factor.
    if programme_ids_for(user, role=roles.SUPERVISOR) or programme_ids_for(user, role=roles.LEGAL_OFFICER):
        return True
    return user_has_device(user, confirmed=True)


def is_verified(user) -> bool:
    # OTPMiddleware installs is_verified(); a user loaded any other way has verified nothing.
    verified = getattr(user, "is_verified", None)
    return bool(verified and verified())


def two_factor_pending(request) -> bool:
    """Signed in with a password, but still owing the code. Decided once per request."""
    if not hasattr(request, _REQUIRED_CACHE):
        user = request.user
        setattr(request, _REQUIRED_CACHE, user.is_authenticated and not is_verified(user) and two_factor_required(user))
    return getattr(request, _REQUIRED_CACHE)


def confirmed_devices(user) -> list:
    return list(devices_for_user(user, confirmed=True))


def device_verify(user, token: str):
    """The confirmed device that accepts the token, or None (wrong code, replayed code or throttled)."""
    token = "".join(token.split())
    with transaction.atomic():
        # Locked, so that two requests cannot both spend the same code or dodge the throttle.
        for device in devices_for_user(user, confirmed=True, for_verify=True):
            if device.verify_token(token):
                return device
    return None


def throttled(user) -> bool:
    """Whether every device refuses codes for now after repeated wrong ones (django-otp's back-off)."""
    devices = confirmed_devices(user)
    return bool(devices) and all(not device.verify_is_allowed()[0] for device in devices)


def enrolment_device(user) -> TOTPDevice:
    """The unconfirmed device a user is enrolling: the same one on every visit, so a scanned code stays valid."""
    device = TOTPDevice.objects.filter(user=user, confirmed=False).order_by("pk").first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name=ENROLLED_DEVICE_NAME, confirmed=False)
    return device


def enrolment_confirm(device: TOTPDevice, token: str) -> bool:
    with transaction.atomic():
        device = TOTPDevice.objects.select_for_update().get(pk=device.pk, confirmed=False)
        if not device.verify_token("".join(token.split())):
            return False
        device.confirmed = True
        device.save(update_fields=["confirmed"])
        # Left-over keys from abandoned attempts were shown on a screen once; they must not linger.
        TOTPDevice.objects.filter(user_id=device.user_id, confirmed=False).delete()
    return True


def session_verify(request, device) -> None:
    """Mark the session as having given the second factor."""
    # A new session key: whatever was observed before the second factor is worth nothing after it.
    request.session.cycle_key()
    otp_login(request, device)
    if hasattr(request, _REQUIRED_CACHE):
        delattr(request, _REQUIRED_CACHE)


def secret_base32(device: TOTPDevice) -> str:
    """The key as authenticator apps take it by hand, in groups of four."""
    key = b32encode(device.bin_key).decode().rstrip("=")
    return " ".join(key[i : i + 4] for i in range(0, len(key), 4))


def qr_code_data_uri(text: str) -> str:
    """An SVG QR code as a data: URI, drawn here so that the key goes to no other server."""
    import qrcode
    import qrcode.image.svg

    out = io.BytesIO()
    qrcode.make(text, image_factory=qrcode.image.svg.SvgPathImage, box_size=8, border=2).save(out)
    return "data:image/svg+xml;base64," + base64.b64encode(out.getvalue()).decode("ascii")


def next_url(request, default: str | None = None) -> str:
    """Where to go after the second factor: the page asked for, if it is one of ours."""
    candidate = request.POST.get("next") or request.GET.get("next") or ""
    if candidate and url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    return default or reverse("admin:index")
