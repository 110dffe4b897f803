"""PLACEHOLDER: being written; replaced before anything lands."""
from secpipe.formats.interface import ReportFormat


def parse(data: bytes, source: str = "<report>"):
    raise NotImplementedError("gitleaks parser not written yet")


FORMAT = ReportFormat(name="gitleaks", title="gitleaks", parse=parse, sniff=None)
