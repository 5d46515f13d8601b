from django.db import transaction

from accounts.models import UserPreference


@transaction.atomic
def user_language_set(*, user, language: str) -> UserPreference:
    preference, _created = UserPreference.objects.get_or_create(user=user, defaults={"language": language})
    if preference.language != language:
        preference.language = language
        preference.full_clean()
        preference.save(update_fields=["language"])
    return preference
