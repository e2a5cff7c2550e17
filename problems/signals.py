"""Registration events. `learning` listens to them; `problems` never imports `learning`.

Receivers run inside the registration's transaction and return how many learnuplets they
created; an exception in a receiver rolls the registration back.
"""

from django.dispatch import Signal

# Sent with algo=<Algo>.
algo_registered = Signal()
# Sent with data=[<Data>, ...] in request order and problems=[<Problem>, ...].
data_registered = Signal()
