from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("tenancy", "0006_reseller_held_by_billing"),
    ]

    operations = [
        migrations.CreateModel(
            name="SuspensionPolicy",
            fields=[
                (
                    "id",
                    models.PositiveSmallIntegerField(
                        default=1, editable=False, primary_key=True, serialize=False
                    ),
                ),
                (
                    "customers_see",
                    models.CharField(
                        choices=[
                            ("page", "The suspension page"),
                            ("read_only", "Their customer portal, read-only"),
                        ],
                        default="page",
                        max_length=12,
                        verbose_name="What a reseller's customers see while it is suspended "
                        "for non-payment",
                    ),
                ),
                ("updated_at", models.DateTimeField(auto_now=True)),
            ],
            options={
                "verbose_name": "suspension policy",
                "verbose_name_plural": "suspension policy",
                "constraints": [
                    models.CheckConstraint(
                        condition=models.Q(("id", 1)), name="one_suspension_policy"
                    )
                ],
            },
        ),
    ]
