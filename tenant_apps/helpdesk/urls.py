"""Staff-area routes of the helpdesk (mounted at /staff/helpdesk/)."""

from django.urls import path

from . import views

app_name = "helpdesk"


def _action(name: str):
    return views.TicketActionView.as_view(action=name)


urlpatterns = [
    path("", views.QueueView.as_view(), name="queue"),
    path("tickets/new/", views.TicketCreateView.as_view(), name="ticket_create"),
    path("tickets/<int:pk>/", views.TicketDetailView.as_view(), name="ticket_detail"),
    path("tickets/<int:pk>/transition/", _action("transition"), name="ticket_transition"),
    path("tickets/<int:pk>/assign/", _action("assign"), name="ticket_assign"),
    path("tickets/<int:pk>/priority/", _action("priority"), name="ticket_priority"),
    path("tickets/<int:pk>/department/", _action("department"), name="ticket_department"),
    path("attachments/<int:pk>/", views.AttachmentView.as_view(), name="attachment"),
    path("departments/", views.DepartmentListView.as_view(), name="department_list"),
    path("departments/new/", views.DepartmentFormView.as_view(), name="department_create"),
    path("departments/<int:pk>/", views.DepartmentFormView.as_view(), name="department_edit"),
    path("canned/", views.CannedListView.as_view(), name="canned_list"),
    path("canned/new/", views.CannedFormView.as_view(), name="canned_create"),
    path("canned/<int:pk>/", views.CannedFormView.as_view(), name="canned_edit"),
    path("canned/<int:pk>/delete/", views.CannedDeleteView.as_view(), name="canned_delete"),
]
