"""PLACEHOLDER: being written; replaced before anything lands."""
from secpipe.formats.interface import ReportFormat


def parse(data: bytes, source: str = "<report>"):
    raise NotImplementedError("trivy parser not written yet")


FORMAT = ReportFormat(name="trivy", title="trivy", parse=parse, sniff=None)
