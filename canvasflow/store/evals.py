"""The store's part for evaluations: datasets and their rows, evaluators, evaluations
and their rows, the model price table. A mixin of :class:`canvasflow.store.repo.Store`
(it uses the store's ``sessions``)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import delete, func, select, update

from canvasflow.store.models import (
    Dataset,
    DatasetRow,
    Evaluation,
    EvaluationRow,
    Evaluator,
    ModelPrice,
    utcnow,
)
from canvasflow.store.tables import rowcount

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

# the tables a row is found in by id or name (datasets, evaluators)
Named = TypeVar("Named", Dataset, Evaluator)


class EvalRepo:
    sessions: async_sessionmaker[AsyncSession]

    # -- datasets ---------------------------------------------------------------------

    async def create_dataset(self, name: str, description: str = "") -> Dataset:
        row = Dataset(id=str(uuid.uuid4()), name=name, description=description)
        async with self.sessions() as s:
            s.add(row)
            await s.commit()
        return row

    async def datasets(self) -> list[tuple[Dataset, int]]:
        """Every dataset with its number of rows, newest first."""
        counts = (
            select(DatasetRow.dataset_id, func.count().label("n"))
            .group_by(DatasetRow.dataset_id)
            .subquery()
        )
        q = (
            select(Dataset, func.coalesce(counts.c.n, 0))
            .outerjoin(counts, counts.c.dataset_id == Dataset.id)
            .order_by(Dataset.created_at.desc())
        )
        async with self.sessions() as s:
            return [(d, int(n)) for d, n in (await s.execute(q)).all()]

    async def _named(self, model: type[Named], ref: str) -> Named | None:
        """A row by id, or by name when one row has it."""
        async with self.sessions() as s:
            found = await s.get(model, ref)
            if found is None:
                named = (await s.scalars(select(model).where(model.name == ref))).all()
                found = named[0] if len(named) == 1 else None
            return found

    async def _change(
        self, model: type[Named], row_id: str, changes: dict[str, Any]
    ) -> Named | None:
        async with self.sessions() as s:
            row = await s.get(model, row_id)
            if row is None:
                return None
            for key, value in changes.items():
                setattr(row, key, value)
            row.updated_at = utcnow()
            await s.commit()
            return row

    async def dataset(self, ref: str) -> Dataset | None:
        """A dataset by id, or by name when one has it."""
        return await self._named(Dataset, ref)

    async def update_dataset(self, dataset_id: str, **changes: Any) -> Dataset | None:
        return await self._change(Dataset, dataset_id, changes)

    async def delete_dataset(self, dataset_id: str) -> bool:
        async with self.sessions() as s:
            await s.execute(delete(DatasetRow).where(DatasetRow.dataset_id == dataset_id))
            result = await s.execute(delete(Dataset).where(Dataset.id == dataset_id))
            await s.commit()
            return bool(rowcount(result))

    async def dataset_rows(
        self, dataset_id: str, page: int = 1, limit: int | None = None
    ) -> tuple[list[DatasetRow], int]:
        q = select(DatasetRow).where(DatasetRow.dataset_id == dataset_id)
        counted = q.with_only_columns(func.count()).select_from(DatasetRow)
        listed = q.order_by(DatasetRow.seq, DatasetRow.id)
        if limit is not None:
            listed = listed.offset((page - 1) * limit).limit(limit)
        async with self.sessions() as s:
            rows = list((await s.scalars(listed)).all())
            total = int(await s.scalar(counted) or 0)
        return rows, total

    async def add_dataset_rows(
        self, dataset_id: str, rows: Iterable[dict[str, Any]], replace: bool = False
    ) -> list[DatasetRow]:
        """Rows appended after the last (or in place of every row), in one transaction."""
        async with self.sessions() as s:
            if replace:
                await s.execute(delete(DatasetRow).where(DatasetRow.dataset_id == dataset_id))
                last = 0
            else:
                last = int(
                    await s.scalar(
                        select(func.max(DatasetRow.seq)).where(DatasetRow.dataset_id == dataset_id)
                    )
                    or 0
                )
            added = [
                DatasetRow(id=str(uuid.uuid4()), dataset_id=dataset_id, seq=last + i, **row)
                for i, row in enumerate(rows, 1)
            ]
            s.add_all(added)
            await s.execute(
                update(Dataset).where(Dataset.id == dataset_id).values(updated_at=utcnow())
            )
            await s.commit()
        return added

    async def update_dataset_row(self, row_id: str, **changes: Any) -> DatasetRow | None:
        async with self.sessions() as s:
            row = await s.get(DatasetRow, row_id)
            if row is None:
                return None
            for key, value in changes.items():
                setattr(row, key, value)
            row.updated_at = utcnow()
            await s.execute(
                update(Dataset).where(Dataset.id == row.dataset_id).values(updated_at=utcnow())
            )
            await s.commit()
            return row

    async def delete_dataset_rows(self, ids: list[str]) -> int:
        async with self.sessions() as s:
            result = await s.execute(delete(DatasetRow).where(DatasetRow.id.in_(ids)))
            await s.commit()
            return rowcount(result)

    # -- evaluators -------------------------------------------------------------------

    async def create_evaluator(self, name: str, type: str, config: dict[str, Any]) -> Evaluator:
        row = Evaluator(id=str(uuid.uuid4()), name=name, type=type, config=config)
        async with self.sessions() as s:
            s.add(row)
            await s.commit()
        return row

    async def evaluators(self) -> list[Evaluator]:
        async with self.sessions() as s:
            return list((await s.scalars(select(Evaluator).order_by(Evaluator.name))).all())

    async def evaluator(self, ref: str) -> Evaluator | None:
        """An evaluator by id, or by name when one has it."""
        return await self._named(Evaluator, ref)

    async def update_evaluator(self, evaluator_id: str, **changes: Any) -> Evaluator | None:
        return await self._change(Evaluator, evaluator_id, changes)

    async def delete_evaluator(self, evaluator_id: str) -> bool:
        async with self.sessions() as s:
            result = await s.execute(delete(Evaluator).where(Evaluator.id == evaluator_id))
            await s.commit()
            return bool(rowcount(result))

    # -- evaluations ------------------------------------------------------------------

    async def create_evaluation(self, **values: Any) -> Evaluation:
        row = Evaluation(id=str(uuid.uuid4()), status="pending", done=0, **values)
        async with self.sessions() as s:
            s.add(row)
            await s.commit()
        return row

    async def evaluations(
        self, canvas_id: str | None = None, status: tuple[str, ...] = ()
    ) -> list[Evaluation]:
        q = select(Evaluation)
        if canvas_id:
            q = q.where(Evaluation.canvas_id == canvas_id)
        if status:
            q = q.where(Evaluation.status.in_(status))
        async with self.sessions() as s:
            return list((await s.scalars(q.order_by(Evaluation.created_at.desc()))).all())

    async def evaluation(self, evaluation_id: str) -> Evaluation | None:
        async with self.sessions() as s:
            return await s.get(Evaluation, evaluation_id)

    async def update_evaluation(self, evaluation_id: str, **changes: Any) -> None:
        async with self.sessions() as s:
            await s.execute(
                update(Evaluation).where(Evaluation.id == evaluation_id).values(**changes)
            )
            await s.commit()

    async def add_evaluation_rows(self, evaluation_id: str, rows: list[dict[str, Any]]) -> None:
        """Rows answered, and the evaluation's count of rows done, in one transaction."""
        async with self.sessions() as s:
            s.add_all(
                EvaluationRow(id=str(uuid.uuid4()), evaluation_id=evaluation_id, **row)
                for row in rows
            )
            await s.execute(
                update(Evaluation)
                .where(Evaluation.id == evaluation_id)
                .values(done=Evaluation.done + len(rows))
            )
            await s.commit()

    async def evaluation_rows(self, evaluation_id: str) -> list[EvaluationRow]:
        q = select(EvaluationRow).where(EvaluationRow.evaluation_id == evaluation_id)
        async with self.sessions() as s:
            return list(
                (await s.scalars(q.order_by(EvaluationRow.seq, EvaluationRow.version))).all()
            )

    async def delete_evaluation(self, evaluation_id: str) -> bool:
        async with self.sessions() as s:
            await s.execute(
                delete(EvaluationRow).where(EvaluationRow.evaluation_id == evaluation_id)
            )
            result = await s.execute(delete(Evaluation).where(Evaluation.id == evaluation_id))
            await s.commit()
            return bool(rowcount(result))

    # -- prices -----------------------------------------------------------------------

    async def prices(self) -> dict[str, tuple[float, float]]:
        async with self.sessions() as s:
            rows = (await s.scalars(select(ModelPrice))).all()
        return {r.model: (r.input_per_million, r.output_per_million) for r in rows}

    async def set_prices(self, prices: dict[str, tuple[float, float]]) -> None:
        """The whole table, replaced."""
        async with self.sessions() as s:
            await s.execute(delete(ModelPrice))
            s.add_all(
                ModelPrice(model=m, input_per_million=i, output_per_million=o)
                for m, (i, o) in prices.items()
            )
            await s.commit()
