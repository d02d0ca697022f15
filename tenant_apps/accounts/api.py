"""Accounts API: who am I, and the instance's team."""

from drf_spectacular.utils import extend_schema
from rest_framework import generics
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from .models import STAFF_ROLES, User
from .serializers import UserSerializer


class MeView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(responses=UserSerializer, summary="The signed-in user of this instance")
    def get(self, request):
        return Response(UserSerializer(request.user).data)


class StaffListView(generics.ListAPIView):
    """Staff members of this instance (never another instance's)."""

    serializer_class = UserSerializer

    def get_queryset(self):
        return User.objects.filter(role__in=STAFF_ROLES).order_by("email")
