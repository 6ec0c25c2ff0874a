"""Mass-action kinetics of a :class:`~crn2sbml.crn.ReactionNetwork`: the reference semantics.

The ODE is derived from the reactions alone, never from the neural network, so it can check the compiler:
``dx/dt = N · v(x)`` with ``v_j(x) = k_j · prod_i x_i^{R_ji}`` (``R`` the reactant stoichiometry, ``N`` the
net stoichiometry with the rows of boundary species set to zero, since those are clamped).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from crn2sbml.crn import ReactionNetwork


@dataclass(frozen=True, eq=False)
class MassActionODE:
    """Right-hand side and Jacobian of a reaction network's mass-action ODE (state = all species, in
    ``crn.species`` order). Build it with :meth:`from_crn`."""

    crn: ReactionNetwork
    rate_constants: np.ndarray  # (n_reactions,)
    reactant_index: np.ndarray  # (n_reactions, m) species index, padded with n_species
    reactant_order: np.ndarray  # (n_reactions, m) stoichiometry, padded with 0
    net_stoichiometry: sp.csr_matrix  # (n_species, n_reactions), boundary rows zero

    @classmethod
    def from_crn(cls, crn: ReactionNetwork) -> MassActionODE:
        index = crn.index()
        n_s, n_r = len(crn.species), len(crn.reactions)
        width = max((len(r.reactants) for r in crn.reactions), default=0) or 1
        r_index = np.full((n_r, width), n_s, dtype=np.int64)
        r_order = np.zeros((n_r, width), dtype=np.int64)
        rows, cols, vals = [], [], []
        boundary = {s.id for s in crn.species if s.boundary}
        for j, reaction in enumerate(crn.reactions):
            for a, (species_id, count) in enumerate(reaction.reactants):
                r_index[j, a] = index[species_id]
                r_order[j, a] = count
            for species_id, change in reaction.net_change().items():
                if species_id not in boundary:
                    rows.append(index[species_id])
                    cols.append(j)
                    vals.append(change)
        stoich = sp.csr_matrix((vals, (rows, cols)), shape=(n_s, n_r), dtype=float)
        k = np.array([r.rate_constant for r in crn.reactions], dtype=float)
        return cls(crn, k, r_index, r_order, stoich)

    def _padded(self, x: np.ndarray) -> np.ndarray:
        return np.append(np.asarray(x, dtype=float), 1.0)

    def reaction_rates(self, x: np.ndarray) -> np.ndarray:
        """Flux of every reaction at concentrations ``x`` (shape ``(n_species,)``)."""
        xp = self._padded(x)
        return self.rate_constants * np.prod(xp[self.reactant_index] ** self.reactant_order, axis=1)

    def rhs(self, x: np.ndarray) -> np.ndarray:
        """``dx/dt`` at ``x``; zero for boundary species."""
        return self.net_stoichiometry @ self.reaction_rates(x)

    def jacobian(self, x: np.ndarray) -> sp.csr_matrix:
        """Sparse ``d(dx/dt)/dx`` at ``x``, shape ``(n_species, n_species)``."""
        xp = self._padded(x)
        powers = xp[self.reactant_index] ** self.reactant_order  # (n_r, m)
        n_r, width = powers.shape
        rows, cols, vals = [], [], []
        for a in range(width):
            others = np.prod(np.delete(powers, a, axis=1), axis=1) if width > 1 else np.ones(n_r)
            order = self.reactant_order[:, a]
            base = xp[self.reactant_index[:, a]]
            deriv = self.rate_constants * order * base ** np.maximum(order - 1, 0) * others
            keep = order > 0
            rows.append(np.nonzero(keep)[0])
            cols.append(self.reactant_index[keep, a])
            vals.append(deriv[keep])
        n_s = len(self.crn.species)
        rate_jac = sp.csr_matrix(
            (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(n_r, n_s)
        )
        return (self.net_stoichiometry @ rate_jac).tocsr()
