# The platform's fee kept on each card payment, and billing's "waive the service periods"
# choice kept on a card refund until it is booked.

from decimal import Decimal
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('cards', '0003_cards_autocharge'),
    ]

    operations = [
        migrations.AddField(
            model_name='cardpayment',
            name='application_fee',
            field=models.DecimalField(decimal_places=2, default=Decimal('0'), help_text='What the platform takes from this payment through Stripe', max_digits=14, verbose_name='Platform fee'),
        ),
        migrations.AddField(
            model_name='cardrefund',
            name='waive_periods',
            field=models.BooleanField(default=False, help_text='Service periods wholly refunded are given away'),
        ),
        migrations.AddConstraint(
            model_name='cardpayment',
            constraint=models.CheckConstraint(condition=models.Q(('application_fee__gte', 0), ('application_fee__lte', models.F('amount'))), name='card_payment_fee_within_amount'),
        ),
    ]
