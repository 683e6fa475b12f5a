"""Temperature-dependent effective fc2 in kappa(T): pairing of temperatures and the no-fc2 error."""

import pytest

from incipient.errors import InputError
from incipient.transport.wigner_tdep import pair_fc2_temperatures


def test_each_kappa_temperature_takes_the_fc2_fitted_at_it():
    assert pair_fc2_temperatures([300, 450.0, 600], [600.0, 300.0, 450.4]) == [300.0, 450.4, 600.0]


def test_a_kappa_temperature_without_its_fc2_is_refused():
    with pytest.raises(InputError, match="no effective fc2 fitted at 450 K"):
        pair_fc2_temperatures([300, 450], [300.0, 600.0])
    with pytest.raises(InputError, match="no effective fc2"):
        pair_fc2_temperatures([300], [])
