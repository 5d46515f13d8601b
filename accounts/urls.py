from django.urls import path

from accounts import views

app_name = "accounts"

urlpatterns = [
    path("setlang/", views.language_set, name="language_set"),
]
