"""API routes of catalog."""

from rest_framework.routers import SimpleRouter

from .api import ProductViewSet, TaxClassViewSet

router = SimpleRouter()
router.register("products", ProductViewSet, basename="catalog-product")
router.register("tax-classes", TaxClassViewSet, basename="catalog-tax-class")
urlpatterns = router.urls
