"""Dose point kernels of beta emitters from their ICRP-107 spectra by a scaled-kernel model.

Why a model
-----------
The Monte Carlo dose point kernels of Graves et al. (Med Phys 46:5284, 2019)
exist for 166Ho, but only the 90Y file is available to this project. The 166Ho
kernel shipped with the package (``data/Ho166_dose_point_kernel_scaled.csv``)
is therefore *computed* here, deterministically, from published data, by the
scaling method of Berger (MIRD Pamphlet 7, J Nucl Med 12 Suppl 5:5, 1971;
also Cross WG et al., Health Phys 63:160, 1992):

1. The energy an electron of initial energy ``E`` deposits per unit radius
   around its emission point in water is taken as
   ``g_E(r) = E F(r / R(E)) / R(E)`` with ``∫ F(x) dx = 1``: Berger's scaled
   point kernel, ``F`` being (approximately) independent of ``E`` once the
   distance is scaled by the electron range ``R(E)``.
2. ``R(E)``: the range-energy relation of Katz L, Penfold AS, Rev Mod Phys
   24:28 (1952): ``R = 0.412 E^(1.265 - 0.0954 ln E)`` g/cm² (0.01-2.5 MeV),
   ``R = 0.530 E - 0.106`` g/cm² above, E in MeV. It gives 8.7 mm for the
   1.855 MeV endpoint of 166Ho and 11.0 mm for the 2.28 MeV endpoint of 90Y, the
   maximum ranges in soft tissue quoted by the EANM radioembolization guideline
   (Weber M et al., Eur J Nucl Med Mol Imaging 49:1682, 2022).
3. ``F`` is not taken from a table: it is *calibrated* on the Monte Carlo 90Y
   kernel of Graves et al. (the file in ``data/``): piecewise linear on 51 nodes
   over ``0 ≤ x ≤ 1.25``, non-negative, normalised, with a small curvature
   penalty, fitted (non-negative least squares) so that the ICRP-107 90Y beta
   spectrum folded with it reproduces the Graves kernel's shell energies up to
   12 mm. Any constant error of ``R(E)`` is absorbed by ``F``; what the model
   carries from 90Y to 166Ho is the *shape* of ``R(E)`` and of ``F``.
4. The 166Ho kernel is the ICRP-107 166Ho beta spectrum (and its internal
   conversion electron lines) folded with ``F``; Auger electrons and
   conversion electrons below 10 keV (ranges below 3 µm) are deposited in the
   first 0.1 mm shell. Photons (0.030 MeV per decay) are not in the kernel, as
   in Graves's "beta" files.

Spectra: ICRP Publication 107 (2008), beta spectra (``*.BET``) and discrete
electrons, as tabulated in the ``icrp107-database`` package of the OpenGATE
collaboration (copied to ``data/*_icrp107.csv`` with this citation).

What it rests on, plainly: Berger's scaling (F independent of E) and the
Katz-Penfold range relation. 166Ho (mean beta energy 0.665 MeV, endpoints 1.774
and 1.855 MeV) and 90Y (0.933 MeV, 2.28 MeV) have similar hard spectra, so F is
used near where it was calibrated. Checks (``tests/dosimetry/test_ho166.py``):
the model reproduces the Graves 90Y kernel (energy within r to 1 % of the
total, X90 within 2 %); the 166Ho kernel deposits the ICRP-107 electron energy;
its voxel S-values agree with an independent numerical integration of the
kernel within 3 %; and replacing Katz-Penfold by another published range
relation (Flammersfeld, refitted on 90Y) changes the 166Ho kernel's X90 and
voxel S-values by the amount reported as its model uncertainty.
"""

from __future__ import annotations

import functools
import math
from importlib import resources
from pathlib import Path

import numpy as np
from scipy import optimize

__all__ = [
    "KERNEL_RADIUS_MM",
    "SHELL_WIDTH_MM",
    "katz_penfold_range_mm",
    "flammersfeld_range_mm",
    "beta_spectrum",
    "discrete_electrons",
    "fit_scaled_kernel",
    "model_shell_energies",
    "ho166_shell_energies",
    "write_kernel_csv",
    "HO166_KERNEL_HEADER",
]

#: Radius up to which kernels are modelled and fitted (mm, unit density).
KERNEL_RADIUS_MM: float = 12.0
#: Shell width of the modelled kernels, as in Graves et al. (mm).
SHELL_WIDTH_MM: float = 0.1
#: Support of the scaled kernel F, in units of R(E).
_X_MAX = 1.25
_N_NODES = 51
#: Curvature penalty of the fit (relative to the data rows).
_SMOOTHING = 0.02
#: Energy bins used to fold a continuous spectrum.
_N_ENERGY_BINS = 600
#: Electrons below this energy (MeV) are deposited in the first shell.
_LOCAL_BELOW_MEV = 0.010

HO166_KERNEL_HEADER = (
    "166Ho_26.80H electrons (beta + IC + Auger) per decay; scaled-kernel model calibrated on Graves 2019 90Y "
    "(workstation.dosimetry.kernel_model)"
)


def katz_penfold_range_mm(energy_mev: np.ndarray | float) -> np.ndarray:
    """Electron range (mm) in unit-density water by Katz & Penfold (1952)."""
    e = np.asarray(energy_mev, dtype=float)
    safe = np.clip(e, 1e-6, None)
    low = 0.412 * safe ** (1.265 - 0.0954 * np.log(safe))
    high = 0.530 * safe - 0.106
    return np.where(e <= 2.5, low, high) * 10.0


def flammersfeld_range_mm(energy_mev: np.ndarray | float) -> np.ndarray:
    """Electron range (mm, unit density) from Flammersfeld's relation E = 1.92 sqrt(R² + 0.22 R).

    E in MeV, R in g/cm² (Flammersfeld A, Naturwissenschaften 33:280, 1946); the
    second range model of the sensitivity check.
    """
    e = np.clip(np.asarray(energy_mev, dtype=float), 1e-6, None)
    q = (e / 1.92) ** 2
    return (-0.22 + np.sqrt(0.22**2 + 4.0 * q)) / 2.0 * 10.0


_RANGE_MODELS = {"katz-penfold": katz_penfold_range_mm, "flammersfeld": flammersfeld_range_mm}


def _data_path(name: str) -> Path:
    return Path(str(resources.files("workstation.dosimetry").joinpath("data", name)))


@functools.lru_cache(maxsize=4)
def beta_spectrum(nuclide: str) -> tuple[np.ndarray, np.ndarray]:
    """ICRP-107 beta spectrum: energies (MeV) and electrons per MeV per decay."""
    fname = {"Y-90": "Y90_beta_spectrum_icrp107.csv", "Ho-166": "Ho166_beta_spectrum_icrp107.csv"}[nuclide]
    data = np.loadtxt(_data_path(fname), delimiter=",", comments="#", skiprows=2)
    return data[:, 0], data[:, 1]


@functools.lru_cache(maxsize=2)
def discrete_electrons(nuclide: str = "Ho-166") -> tuple[np.ndarray, np.ndarray]:
    """ICRP-107 conversion and Auger electrons: energies (MeV), yields per decay."""
    if nuclide != "Ho-166":
        return np.zeros(0), np.zeros(0)
    rows = _data_path("Ho166_electrons_icrp107.csv").read_text(encoding="utf-8").splitlines()[2:]
    values = np.array([[float(v) for v in r.split(",")[1:]] for r in rows if r.strip()])
    return values[:, 0], values[:, 1]


def _energy_bins(nuclide: str, mean_beta_energy_mev: float) -> tuple[np.ndarray, np.ndarray]:
    """Bin centres (MeV) and emitted energy per bin (MeV per decay), normalised to the mean beta energy."""
    e_tab, n_tab = beta_spectrum(nuclide)
    edges = np.linspace(0.0, float(e_tab.max()), _N_ENERGY_BINS + 1)
    centres = 0.5 * (edges[1:] + edges[:-1])
    n = np.interp(centres, e_tab, n_tab)
    w = n * centres * np.diff(edges)
    return centres, w * (mean_beta_energy_mev / w.sum())


def _hat(x: np.ndarray, nodes: np.ndarray) -> np.ndarray:
    """Piecewise-linear (hat) basis functions of ``nodes`` at ``x``: shape (len(x), len(nodes))."""
    h = nodes[1] - nodes[0]
    return np.clip(1.0 - np.abs(x[:, None] - nodes[None, :]) / h, 0.0, None)


def _shell_design(energies: np.ndarray, weights: np.ndarray, nodes: np.ndarray,
                  range_fn: object, radius_mm: float) -> np.ndarray:
    """Matrix M so that shell energies = M @ F(nodes), shells of SHELL_WIDTH_MM up to radius_mm."""
    n_shells = int(round(radius_mm / SHELL_WIDTH_MM))
    sub = 16  # midpoint sub-samples per shell
    r = (np.arange(n_shells * sub) + 0.5) * (SHELL_WIDTH_MM / sub)
    ranges = np.asarray(range_fn(energies))  # type: ignore[operator]
    design = np.zeros((r.size, nodes.size))
    local = np.zeros(nodes.size)
    weights_nodes = np.full(nodes.size, nodes[1] - nodes[0])
    weights_nodes[[0, -1]] *= 0.5
    for e_range, w in zip(ranges, weights, strict=True):
        if w <= 0:
            continue
        if e_range * nodes[-1] <= SHELL_WIDTH_MM:
            local += w * weights_nodes  # whole track inside the first shell: exact integral of F
            continue
        design += (w / e_range) * _hat(r / e_range, nodes)
    design *= SHELL_WIDTH_MM / sub
    shells = design.reshape(n_shells, sub, nodes.size).sum(axis=1)
    shells[0] += local
    return shells


@functools.lru_cache(maxsize=4)
def _graves_y90_shells(radius_mm: float) -> np.ndarray:
    data = np.loadtxt(_data_path("Y90_dose_point_kernel_graves2019.csv"), delimiter=",", skiprows=2)
    n = int(round(radius_mm / SHELL_WIDTH_MM))
    return data[:n, 1].copy()


@functools.lru_cache(maxsize=4)
def fit_scaled_kernel(range_model: str = "katz-penfold") -> tuple[np.ndarray, np.ndarray]:
    """Nodes (x = r/R) and values of the scaled kernel F fitted on the Graves 90Y kernel."""
    from workstation.dosimetry.nuclides import Y90

    range_fn = _RANGE_MODELS[range_model]
    nodes = np.linspace(0.0, _X_MAX, _N_NODES)
    energies, weights = _energy_bins("Y-90", Y90.icrp107_mean_beta_energy_mev)
    design = _shell_design(energies, weights, nodes, range_fn, KERNEL_RADIUS_MM)
    target = _graves_y90_shells(KERNEL_RADIUS_MM)
    scale = 1.0 / np.maximum(target, 0.05 * target.max())
    rows = [design * scale[:, None]]
    rhs = [target * scale]
    d2 = np.diff(np.eye(nodes.size), 2, axis=0) * (_SMOOTHING * math.sqrt(target.size))
    rows.append(d2)
    rhs.append(np.zeros(d2.shape[0]))
    integral = np.full(nodes.size, nodes[1] - nodes[0])
    integral[[0, -1]] *= 0.5
    rows.append(1e6 * integral[None, :])
    rhs.append(np.array([1e6]))
    values, _ = optimize.nnls(np.vstack(rows), np.concatenate(rhs), maxiter=20000)
    return nodes, values


def model_shell_energies(nuclide: str, mean_beta_energy_mev: float, range_model: str = "katz-penfold",
                         include_discrete: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Outer shell radii (mm) and energy per shell (MeV per decay) of a nuclide's modelled kernel."""
    nodes, values = fit_scaled_kernel(range_model)
    range_fn = _RANGE_MODELS[range_model]
    energies, weights = _energy_bins(nuclide, mean_beta_energy_mev)
    local = 0.0
    if include_discrete:
        e_d, y_d = discrete_electrons(nuclide)
        far = e_d >= _LOCAL_BELOW_MEV
        energies = np.concatenate([energies, e_d[far]])
        weights = np.concatenate([weights, (e_d * y_d)[far]])
        local = float(np.sum((e_d * y_d)[~far]))
    design = _shell_design(energies, weights, nodes, range_fn, KERNEL_RADIUS_MM)
    shells = design @ values
    shells[0] += local
    outer = (np.arange(shells.size) + 1) * SHELL_WIDTH_MM
    return outer, shells


def ho166_shell_energies(range_model: str = "katz-penfold") -> tuple[np.ndarray, np.ndarray]:
    """The 166Ho kernel shipped in ``data/``: outer radii (mm), energy per 0.1 mm shell (MeV per decay)."""
    from workstation.dosimetry.nuclides import HO166

    return model_shell_energies("Ho-166", HO166.icrp107_mean_beta_energy_mev, range_model)


def write_kernel_csv(path: str | Path, outer_mm: np.ndarray, energy_mev: np.ndarray, header: str) -> Path:
    """Write a kernel in the column layout of the Graves et al. files (radius in cm, MeV, -, g, MeV/g)."""
    outer_cm = outer_mm / 10.0
    inner_cm = np.concatenate([[0.0], outer_cm[:-1]])
    mass_g = 4.0 / 3.0 * math.pi * (outer_cm**3 - inner_cm**3)
    lines = [header, "Outer Radius of Bin (cm),Energy deposited per emission (MeV),Uncertainty,Bin Mass (g),"
             "Dose per decay (MeV/g)"]
    lines += [f"{o:.4f},{e:.10e},0,{m:.10e},{e / m:.10e}"
              for o, e, m in zip(outer_cm, energy_mev, mass_g, strict=True)]
    p = Path(path)
    p.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return p
