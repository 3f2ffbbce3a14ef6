"""What people read, written from a run's status (the ledger) and evidence: the report, the certificate (JSON, HTML,
PDF), model card, data dictionary, risk summary and runbooks (report, certificate, cards, pdf), the checks as JUnit
XML, the evidence bundle, and the dashboard page. Templates are in templates/."""

from certification.documents._render import render
from certification.documents.certificate import certificate_document, document_sha256
from certification.documents.junit import junit_xml
from certification.documents.report import DOCUMENTS, TREND, existing_documents, write_documents

__all__ = [
    "DOCUMENTS",
    "TREND",
    "certificate_document",
    "document_sha256",
    "existing_documents",
    "junit_xml",
    "render",
    "write_documents",
]
