"""The shop's tasks (found by pq.contrib.django: every installed app's tasks.py is imported)."""

from pq.contrib.django import app
from shop.models import Order


@app.task(queue="shop", retries=2)
def send_receipt(order_id: int) -> str:
    # Runs in a child forked by `manage.py pq worker`: the ORM opens a connection of its own.
    order = Order.objects.get(pk=order_id)
    order.receipt_sent = True
    order.save(update_fields=["receipt_sent"])
    return f"receipt for order {order.pk} sent to {order.customer}"
