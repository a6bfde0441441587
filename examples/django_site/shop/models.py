from django.db import models


class Order(models.Model):
    customer = models.CharField(max_length=100)
    receipt_sent = models.BooleanField(default=False)

    def __str__(self) -> str:
        return f"order {self.pk} for {self.customer}"
