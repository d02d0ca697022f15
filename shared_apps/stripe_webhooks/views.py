"""The two Stripe webhook endpoints (platform and Connect), on the base domain only.

They read the raw body (the signature covers its exact bytes), answer in milliseconds and
leave the work to Celery; see services.event_receive."""

from __future__ import annotations

from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from .models import StripeEvent
from .services import event_receive


def _receive(request, endpoint: str) -> JsonResponse:
    receipt = event_receive(
        payload=request.body,
        signature=request.headers.get("Stripe-Signature", ""),
        endpoint=endpoint,
    )
    return JsonResponse({"detail": receipt.detail}, status=receipt.status)


@csrf_exempt
@require_POST
def platform_webhook(request):
    return _receive(request, StripeEvent.Endpoint.PLATFORM)


@csrf_exempt
@require_POST
def connect_webhook(request):
    return _receive(request, StripeEvent.Endpoint.CONNECT)
