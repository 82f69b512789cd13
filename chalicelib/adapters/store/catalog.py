"""Table adapter part: the product catalog and support contracts (accounts)."""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable
from typing import Any

from botocore.exceptions import ClientError

from chalicelib.adapters.store._base import TableBase, dump, is_error, key, load
from chalicelib.adapters.store.items import CONTRACTS, account_item, account_of
from chalicelib.domain.core.errors import BadRequest
from chalicelib.domain.core.models import Account, Product

_ACCOUNT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")  # as validation.ident accepts


class CatalogMixin(TableBase):
    # -- products ---------------------------------------------------------------------------------
    def put_product(self, product: Product) -> None:
        self._db.put_item(
            TableName=self.name,
            Item=dump(
                {
                    "PK": "CATALOG",
                    "SK": f"PRODUCT#{product.product_id}",
                    "type": "product",
                    "product_id": product.product_id,
                    "name": product.name,
                    "features": list(product.features),
                }
            ),
        )

    def get_product(self, product_id: str) -> Product | None:
        got = self._db.get_item(TableName=self.name, Key=key("CATALOG", f"PRODUCT#{product_id}")).get("Item")
        return _product(load(got)) if got else None

    def list_products(self) -> list[Product]:
        return [
            _product(i)
            for i in self._query(KeyConditionExpression="PK = :pk", ExpressionAttributeValues=dump({":pk": "CATALOG"}))
        ]

    # -- accounts ---------------------------------------------------------------------------------
    def put_account(self, account: Account) -> bool:
        """Upsert a contract; returns False when the stored contract was already identical."""
        item = account_item(account)
        try:
            self._db.put_item(
                TableName=self.name,
                Item=dump(item),
                # a contract stored before the list index existed is rewritten once, to join the list
                ConditionExpression="attribute_not_exists(PK) OR #h <> :h OR attribute_not_exists(GSI1PK) "
                "OR attribute_not_exists(GSI2PK)",
                ExpressionAttributeNames={"#h": "digest"},
                ExpressionAttributeValues=dump({":h": item["digest"]}),
            )
        except ClientError as exc:
            if is_error(exc, "ConditionalCheckFailedException"):
                return False
            raise
        return True

    def get_account(self, account_id: str, *, consistent: bool = False) -> Account | None:
        got = self._db.get_item(
            TableName=self.name, Key=key(f"ACCOUNT#{account_id}", "CONTRACT"), ConsistentRead=consistent
        ).get("Item")
        return account_of(load(got)) if got else None

    def accounts_page(self, *, limit: int, cursor: str | None) -> tuple[list[Account], str | None]:
        """Contracts in account id order, a page from ``cursor`` (the opaque next of the previous page)."""
        kwargs: dict[str, Any] = {}
        if cursor is not None:
            after = _after_account(cursor)
            kwargs["ExclusiveStartKey"] = dump(
                {"PK": f"ACCOUNT#{after}", "SK": "CONTRACT", "GSI1PK": CONTRACTS, "GSI1SK": after}
            )
        got = self._db.query(
            TableName=self.name,
            IndexName="GSI1",
            KeyConditionExpression="GSI1PK = :pk",
            ExpressionAttributeValues=dump({":pk": CONTRACTS}),
            Limit=limit,
            **kwargs,
        )
        items = [account_of(load(i)) for i in got.get("Items", [])]
        last = got.get("LastEvaluatedKey")
        return items, _cursor_after(items[-1].account_id) if last and items else None

    def get_accounts(self, account_ids: Iterable[str]) -> dict[str, Account]:
        keys = [(f"ACCOUNT#{a}", "CONTRACT") for a in sorted(set(account_ids))]
        return {a.account_id: a for a in (account_of(i) for i in self._batch_get(keys, consistent=False))}


_CURSOR_PREFIX = "a1:"  # versioned, so that the cursor's contents can change without misreading old ones


def _cursor_after(account_id: str) -> str:
    return base64.urlsafe_b64encode((_CURSOR_PREFIX + account_id).encode()).decode().rstrip("=")


def _after_account(cursor: str) -> str:
    """The account id a cursor continues after; a cursor this API did not give is a 400, not a 500."""
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (ValueError, UnicodeDecodeError):
        text = ""
    account_id = text.removeprefix(_CURSOR_PREFIX)
    if not text.startswith(_CURSOR_PREFIX) or not _ACCOUNT_ID.fullmatch(account_id):
        raise BadRequest(
            "Query parameter 'cursor' is not one this API gave: pass the 'next' of a page.", code="invalid_cursor"
        )
    return account_id


def _product(i: dict[str, Any]) -> Product:
    return Product(product_id=i["product_id"], name=i["name"], features=tuple(i.get("features", [])))
