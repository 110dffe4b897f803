"""PLACEHOLDER: being written; replaced before anything lands."""
from secpipe.formats.interface import ReportFormat


def parse(data: bytes, source: str = "<report>"):
    raise NotImplementedError("kubeaudit parser not written yet")


FORMAT = ReportFormat(name="kubeaudit", title="kubeaudit", parse=parse, sniff=None)
