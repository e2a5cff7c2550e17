"""English formats, as Django's (`django/conf/locale/en/formats.py`) except date-times: to
the second, with their zone, in one order that sorts as text ("2026-12-02 06:00:12 UTC";
Django's said "Dec. 2, 2026, 6 a.m."). Leases and heartbeats are seconds apart, and an
operator compares them with the logs and the workers' clocks."""

DATETIME_FORMAT = "Y-m-d H:i:s T"
SHORT_DATETIME_FORMAT = "Y-m-d H:i:s T"
