"""Loss models of transformers and power converters (pure functions over arrays).

Transformer (IEC 60076-1 load-loss / no-load-loss definitions; the DOE 2016 efficiency rule uses the same
split)::

    P_loss = n * P0 + Pk * (S / S_n)^2 / n        (n identical units sharing S equally)

and its positive-sequence equivalent on the unit's own base (the short-circuit test quantities, as in
pandapower's ``trafo`` model)::

    r_k = Pk / S_n,  z_k = u_k% / 100,  x_k = sqrt(z_k^2 - r_k^2),  g_m = P0 / S_n  (magnetising conductance)

so that R I^2 + G V^2 = Pk (S/S_n)^2 + P0 at rated voltage.

Converters (UPS, MV rectifier / SST, rack power shelf, rack DC/DC): efficiency eta(x) tabulated against the
load fraction x = P_out / (n * P_rated) and interpolated linearly between the table points (80 PLUS
Titanium 90/94/96/91 % at 10/20/50/100 % load for the PSUs). Outside the table:

* below the first point the LOSS is held at its value at the first point (a converter's fixed losses do not
  vanish at light load, so efficiency falls towards 0 as P_out -> 0, instead of holding eta(x0));
* above the last point efficiency is held at its last value; the overload itself is reported by the solver.
"""

from __future__ import annotations

import numpy as np


def transformer_loss_w(s_va, rating_va, no_load_loss_w, load_loss_w, units=1):
    """Losses of n paralleled identical transformers sharing S equally (IEC 60076-1).

    P = n P0 + n Pk (S / (n S_n))^2

    Parameters
    ----------
    s_va : array_like
        Apparent power through the n units together, VA.
    rating_va : array_like
        Rated power S_n of one unit, VA.
    no_load_loss_w : array_like
        No-load (iron) loss P0 of one unit, W.
    load_loss_w : array_like
        Load (copper) loss Pk of one unit at rated power, W.
    units : array_like, default 1
        Number n of units in service.

    Returns
    -------
    ndarray
        Total loss, W. Arrays broadcast.
    """
    n = np.asarray(units, dtype=float)
    x = np.asarray(s_va) / (n * np.asarray(rating_va))
    return n * np.asarray(no_load_loss_w) + n * np.asarray(load_loss_w) * x * x


def transformer_z_pu(rating_va, load_loss_w, impedance_percent, s_base_va):
    """Series impedance of ONE unit on the system base: (r_k + j x_k) S_base / S_n.

    Parameters
    ----------
    rating_va : array_like
        Rated power S_n, VA.
    load_loss_w : array_like
        Load loss Pk at rated power, W (r_k = Pk / S_n).
    impedance_percent : array_like
        Short-circuit impedance u_k, % (z_k = u_k / 100, x_k = sqrt(z_k^2 - r_k^2)).
    s_base_va : float
        System base power, VA.

    Returns
    -------
    ndarray of complex
        Impedance, per unit of the system base.

    Raises
    ------
    ValueError
        When r_k > z_k (a load loss too large for the impedance voltage).
    """
    r = np.asarray(load_loss_w) / np.asarray(rating_va)
    z = np.asarray(impedance_percent) / 100.0
    if np.any(r > z):
        raise ValueError("transformer load loss implies a resistance above its impedance voltage")
    x = np.sqrt(z * z - r * r)
    return (r + 1j * x) * (s_base_va / np.asarray(rating_va))


def efficiency(load_fraction, curve_x, curve_eta):
    """eta(x) by linear interpolation of the table; held flat beyond the last point (see module doc).

    Parameters
    ----------
    load_fraction : array_like
        x = P_out / (n P_rated), dimensionless.
    curve_x, curve_eta : ndarray
        The table: load fractions (increasing) and efficiencies (0-1), from ``curve_arrays``.

    Returns
    -------
    ndarray
        Efficiency, 0-1 (held at eta(x0) below the first point: use ``converter_input_w`` for losses).
    """
    x = np.asarray(load_fraction, dtype=float)
    return np.interp(np.maximum(x, curve_x[0]), curve_x, curve_eta)


def converter_input_w(p_out_w, rating_w, curve_x, curve_eta, units=1):
    """Input power of n paralleled converters delivering p_out_w in total (equal sharing).

    Above the first table point: P_in = P_out / eta(x). Below it: P_in = P_out + loss(x0), with
    loss(x0) = x0 * n * P_rated * (1/eta(x0) - 1), so zero output still costs the fixed loss.

    Parameters
    ----------
    p_out_w : array_like
        Output power of the n units together, W.
    rating_w : array_like
        Rated output power of one unit, W.
    curve_x, curve_eta : ndarray
        Efficiency table (``curve_arrays``): load fractions and efficiencies (0-1).
    units : array_like, default 1
        Number n of units sharing the load.

    Returns
    -------
    ndarray
        Input power, W (loss = input - output).
    """
    p = np.asarray(p_out_w, dtype=float)
    cap = np.asarray(units, dtype=float) * np.asarray(rating_w, dtype=float)
    x = p / cap
    x0, e0 = curve_x[0], curve_eta[0]
    fixed = x0 * cap * (1.0 / e0 - 1.0)
    above = p / np.interp(np.maximum(x, x0), curve_x, curve_eta)
    return np.where(x >= x0, above, p + fixed)


def curve_arrays(curve) -> tuple[np.ndarray, np.ndarray]:
    """(load_fraction, efficiency) arrays of a catalog EfficiencyCurve."""
    return np.asarray(curve.load_fraction, dtype=float), np.asarray(curve.efficiency, dtype=float)
