"""Longitudinal analysis: registration, carrying lesions across visits, response assessment."""

from tscimg.longitudinal.carry import CarriedLesion, CarryParameters, carry_lesion
from tscimg.longitudinal.criteria import CRITERIA, EXIST, TSC, ResponseCriteria, criteria_named
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

__all__ = [
    "CRITERIA",
    "EXIST",
    "REPORT_SCHEMA",
    "TSC",
    "CarriedLesion",
    "CarryParameters",
    "CaseError",
    "CohortResult",
    "LesionOrigin",
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
    "VolumeAtVisit",
    "assess_patient",
    "assess_response",
    "carry_lesion",
    "criteria_named",
    "months_between",
    "register",
]
