"""POST /orders writes the order and enqueues its receipt in one transaction."""

from django.db import transaction
from django.http import HttpRequest, JsonResponse
from django.shortcuts import get_object_or_404
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from shop.models import Order
from shop.tasks import send_receipt


class PaymentDeclined(Exception):
    pass


@csrf_exempt  # an API endpoint of the example; keep CSRF on for forms
@require_POST
def place_order(request: HttpRequest) -> JsonResponse:
    try:
        # --8<-- [start:atomic]
        with transaction.atomic():
            order = Order.objects.create(customer=request.POST["customer"])
            handle = send_receipt.delay(order.pk)  # rides the atomic block: no connection=
            if request.POST.get("card") == "declined":
                raise PaymentDeclined  # rolls back the order *and* the receipt task
        # --8<-- [end:atomic]
    except PaymentDeclined:
        return JsonResponse({"error": "payment declined"}, status=402)
    return JsonResponse({"order": order.pk, "task": handle.id}, status=201)


def show_order(request: HttpRequest, order_id: int) -> JsonResponse:
    order = get_object_or_404(Order, pk=order_id)
    return JsonResponse({"order": order.pk, "receipt_sent": order.receipt_sent})
