from django.urls import path

from accounts import views

app_name = "two_factor"

urlpatterns = [
    path("", views.two_factor_verify, name="verify"),
    path("enrol/", views.two_factor_enrol, name="enrol"),
]
