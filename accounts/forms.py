from django import forms
from django.utils.translation import gettext_lazy as _


class TokenForm(forms.Form):
    token = forms.RegexField(
        label=_("Code"),
        # Apps show the code as "123 456"; the space is not part of it.
        regex=r"^\s*(\d\s*){6,8}$",
        max_length=20,
        error_messages={"invalid": _("Enter the 6-digit code from your authenticator app.")},
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "autofocus": True, "size": 10}
        ),
    )

    def clean_token(self) -> str:
        return "".join(self.cleaned_data["token"].split())
