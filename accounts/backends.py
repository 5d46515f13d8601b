from axes.backends import AxesStandaloneBackend


class LockoutBackend(AxesStandaloneBackend):
    """Refuses a sign-in while its username and address are locked out (django-axes).

    Goes first in AUTHENTICATION_BACKENDS; the password itself is checked by ModelBackend.
    A call without a request (a management command, a shell) comes from nobody's
    address and cannot be counted; axes would refuse it outright.
    """

    def authenticate(self, request, username=None, password=None, **kwargs):
        if request is None:
            return None
        return super().authenticate(request, username=username, password=password, **kwargs)
