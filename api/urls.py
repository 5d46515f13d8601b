"""The versioned API router: every app registers its viewsets here."""

from rest_framework.routers import DefaultRouter

from api.casework.views import (
    AgencyViewSet,
    CaseViewSet,
    ConsentViewSet,
    FamilyViewSet,
    NoteViewSet,
    PersonViewSet,
    ReferralViewSet,
)
from api.base import ApiViewMixin
from api.justice.views import CourtHearingViewSet, LegalProceedingViewSet
from api.lifecycle.closure import ClosureRequestViewSet
from api.lifecycle.transfer import TransferRequestViewSet
from api.lifecycle.views import ArrivalViewSet
from api.programmes.details import (
    AccommodationStayViewSet,
    DocumentRequestViewSet,
    EmploymentPlacementViewSet,
    HousingPlacementViewSet,
    PsychologicalSessionViewSet,
    RelativeContactViewSet,
    SchoolPlacementViewSet,
)
from api.programmes.views import (
    EnrolmentViewSet,
    FollowUpViewSet,
    ProgrammeViewSet,
    StageTypeViewSet,
    StageViewSet,
)


class ApiRouter(DefaultRouter):
    class APIRootView(ApiViewMixin, DefaultRouter.APIRootView):
        """The collections of the API."""


router = ApiRouter()
router.register("persons", PersonViewSet, basename="person")
router.register("families", FamilyViewSet, basename="family")
router.register("cases", CaseViewSet, basename="case")
router.register("enrolments", EnrolmentViewSet, basename="enrolment")
router.register("stages", StageViewSet, basename="stage")
router.register("follow-ups", FollowUpViewSet, basename="follow-up")
router.register("referrals", ReferralViewSet, basename="referral")
router.register("programmes", ProgrammeViewSet, basename="programme")
router.register("stage-types", StageTypeViewSet, basename="stage-type")
router.register("agencies", AgencyViewSet, basename="agency")
router.register("arrivals", ArrivalViewSet, basename="arrival")
router.register("legal-proceedings", LegalProceedingViewSet, basename="legal-proceeding")
router.register("court-hearings", CourtHearingViewSet, basename="court-hearing")
router.register("accommodation-stays", AccommodationStayViewSet, basename="accommodation-stay")
router.register("psychological-sessions", PsychologicalSessionViewSet, basename="psychological-session")
router.register("school-placements", SchoolPlacementViewSet, basename="school-placement")
router.register("document-requests", DocumentRequestViewSet, basename="document-request")
router.register("housing-placements", HousingPlacementViewSet, basename="housing-placement")
router.register("relative-contacts", RelativeContactViewSet, basename="relative-contact")
router.register("employment-placements", EmploymentPlacementViewSet, basename="employment-placement")
router.register("closure-requests", ClosureRequestViewSet, basename="closure-request")
router.register("transfer-requests", TransferRequestViewSet, basename="transfer-request")
router.register("notes", NoteViewSet, basename="note")
router.register("consents", ConsentViewSet, basename="consent")
