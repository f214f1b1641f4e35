from django.contrib.auth import views as auth_views
from django.urls import path
from stylecloak.rights import TDMREP_PATH

from artworks import views

urlpatterns = [
    path("", views.explore, name="explore"),
    path("upload/", views.upload, name="upload"),
    path("me/", views.my_gallery, name="my-gallery"),
    path("artists/<str:username>/", views.artist, name="artist"),
    path("artworks/<int:pk>/", views.artwork_page, name="artwork"),
    path("artworks/<int:pk>/original", views.original, name="original"),
    path("artworks/<int:pk>/difference", views.difference, name="difference"),
    path("media/<path:path>", views.media, name="media"),
    path(TDMREP_PATH.lstrip("/"), views.tdmrep, name="tdmrep"),
    path("robots.txt", views.robots_txt, name="robots"),
    path("accounts/login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("accounts/signup/", views.signup, name="signup"),
]
