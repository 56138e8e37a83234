"""Personal numbers out of the logs: mobile phones (138****0000) and ID numbers
(110***********1234) are masked in every log line the process writes.

Pages, receipts and JSON answers mask the applicant's data where they are built
(hall.domain.cases.case_dict, hall.casedocs.views.paper_data); this module is the safety net
for log lines: a message or an exception (an SQL error repeats its parameters) that happens to
carry a number is masked before any handler sees it.

A filter on a logger only sees the records logged on that very logger, not those of its
children that propagate (``hall.domain.reports``, ``werkzeug``, ``sqlalchemy.engine``); so
`init_app` wraps the log record factory, which every logger of the process goes through, and
also puts `PersonalDataFilter` on the root, ``hall`` and ``werkzeug`` loggers and the root's
handlers (in case another library replaces the factory later).
"""

from __future__ import annotations

import logging
import re

from hall.domain.cases import mask_id_number, mask_phone

# a mainland mobile number: 11 digits from 13…19, maybe written 138 0000 0000 or 138-0000-0000,
# maybe after +86; not part of a longer number nor the decimals of a fraction (0.1380000000042)
MOBILE = re.compile(r"(?:(?<=86)|(?<![0-9]))(?<![0-9]\.)1[3-9][0-9](?:[ -]?[0-9]{4}){2}(?![0-9])")
# a resident ID number (居民身份证号码): 17 digits and a digit or X, not part of a longer number
ID_NUMBER = re.compile(r"(?<![0-9])(?<![0-9]\.)[0-9]{17}[0-9Xx](?![0-9A-Za-z])")
_ANY = re.compile(f"{ID_NUMBER.pattern}|{MOBILE.pattern}")
_FORMATTER = logging.Formatter()


def _mask_mobile(match: re.Match) -> str:
    return mask_phone(re.sub(r"[ -]", "", match.group(0)))


def _mask_id(match: re.Match) -> str:
    return mask_id_number(match.group(0))


def mask_text(text: str) -> str:
    """Text with every mobile number and ID number in it masked (138****0000,
    110***********1234); other text unchanged."""
    if not text or not _ANY.search(text):
        return text
    return MOBILE.sub(_mask_mobile, ID_NUMBER.sub(_mask_id, text))


_MASKED = "hall_masked"  # set on a record once masked: the filters after the factory skip it


def mask_record(record: logging.LogRecord) -> None:
    """Mask the message, the exception text and the stack of a log record in place (once:
    a record the factory masked is not scanned again by the filters)."""
    if record.__dict__.get(_MASKED):
        return
    try:
        message = record.getMessage()
    except Exception:  # a bad format string: the handler reports it as logging does
        return
    masked = mask_text(message)
    if masked != message:
        record.msg, record.args = masked, ()
    if record.exc_info and not record.exc_text:
        text = _FORMATTER.formatException(record.exc_info)
        masked = mask_text(text)
        if masked != text:
            record.exc_text = masked  # handlers print exc_text when it is set
    if record.stack_info:
        record.stack_info = mask_text(record.stack_info)
    record.__dict__[_MASKED] = True


class PersonalDataFilter(logging.Filter):
    """A logging filter that masks personal numbers and lets every record through."""

    def filter(self, record: logging.LogRecord) -> bool:
        mask_record(record)
        return True


def install() -> None:
    """Mask every log record of the process when it is made (once per process)."""
    previous = logging.getLogRecordFactory()
    if getattr(previous, "hall_privacy", False):
        return

    def factory(*args, **kwargs) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        mask_record(record)
        return record

    factory.hall_privacy = True
    logging.setLogRecordFactory(factory)
    targets = [logging.getLogger(), logging.getLogger("hall"), logging.getLogger("werkzeug")]
    targets += logging.getLogger().handlers
    for target in targets:
        if not any(isinstance(f, PersonalDataFilter) for f in target.filters):
            target.addFilter(PersonalDataFilter())


def init_app(app) -> None:
    """Install the masking of log records (the app's logger is the ``hall`` logger)."""
    install()
    if not any(isinstance(f, PersonalDataFilter) for f in app.logger.filters):
        app.logger.addFilter(PersonalDataFilter())
