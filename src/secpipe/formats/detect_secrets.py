"""PLACEHOLDER: being written; replaced before anything lands."""
from secpipe.formats.interface import ReportFormat


def parse(data: bytes, source: str = "<report>"):
    raise NotImplementedError("detect_secrets parser not written yet")


FORMAT = ReportFormat(name="detect-secrets", title="detect_secrets", parse=parse, sniff=None)
