"""One small model, so its migration creates a table in every instance schema."""

from django.db import models


class ProbeNote(models.Model):
    text = models.CharField(max_length=100)

    def __str__(self) -> str:
        return self.text
