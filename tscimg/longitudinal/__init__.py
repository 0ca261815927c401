"""Longitudinal analysis: registration, carrying lesions across visits, response assessment."""

from tscimg.longitudinal.carry import (
    CarriedLesion,
    CarryParameters,
    LesionReference,
    carry_lesion,
    register_lesion,
)
from tscimg.longitudinal.criteria import CRITERIA, EXIST, TSC, ResponseCriteria, criteria_named
from tscimg.longitudinal.deformation import (
    DeformableParameters,
    LesionDeformation,
    deform_around_lesion,
)
from tscimg.longitudinal.registration import Registration, RegistrationParameters, register
from tscimg.longitudinal.response import (
    Milestone,
    ResponseAssessment,
    ResponseStatus,
    TimepointAssessment,
    VolumeAtVisit,
    assess_response,
    months_between,
)
from tscimg.longitudinal.results import (
    REPORT_SCHEMA,
    CaseError,
    CohortResult,
    LesionOrigin,
    LesionVisitResult,
    PatientResult,
    ScanFacts,
    assess_patient,
)
from tscimg.longitudinal.trust import TrustParameters, change_review

__all__ = [
    "CRITERIA",
    "EXIST",
    "REPORT_SCHEMA",
    "TSC",
    "CarriedLesion",
    "CarryParameters",
    "CaseError",
    "CohortResult",
    "DeformableParameters",
    "LesionDeformation",
    "LesionOrigin",
    "LesionReference",
    "LesionVisitResult",
    "Milestone",
    "PatientResult",
    "Registration",
    "RegistrationParameters",
    "ResponseAssessment",
    "ResponseCriteria",
    "ResponseStatus",
    "ScanFacts",
    "TimepointAssessment",
    "TrustParameters",
    "VolumeAtVisit",
    "assess_patient",
    "assess_response",
    "carry_lesion",
    "change_review",
    "criteria_named",
    "deform_around_lesion",
    "months_between",
    "register",
    "register_lesion",
]
