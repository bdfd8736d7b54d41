"""GitHub Discussions over GraphQL (``discussions: true``): the repository's discussions by
``updatedAt``, newest first, each with its latest comments and their replies.

A discussion is a conversation of its own (thread ``discussion:{number}``, so it never mixes
with an issue). The opening post and comments by others are customer messages; maintainers
answer (the same rule as for issues). Closing a discussion ends the waiting period like
closing an issue (a synthetic ``closed:discussion:{number}:{epoch}`` team message).

The walk goes from the newest update back to the cursor's ``since``, at most ``MAX_PAGES``
pages, and ``since`` then moves to the newest ``updatedAt`` seen. Each discussion carries at
most its last ``COMMENTS`` comments (and their last ``REPLIES`` replies) per poll: polling
often enough keeps up with any discussion.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime

from bot.domain.events import Author, InboundMessage, Kind
from bot.domain.payload import arr, flag, ident, integer, obj, opt_when, string, when
from bot.domain.polling import BadItem, PollError

MAX_PAGES = 10
PAGE = 25
COMMENTS = 50
REPLIES = 20
_AUTHORED = "databaseId body url createdAt updatedAt authorAssociation author { login __typename }"
LIST = f"""
query($owner: String!, $name: String!, $first: Int!, $after: String) {{
  repository(owner: $owner, name: $name) {{
    discussions(first: $first, after: $after, orderBy: {{field: UPDATED_AT, direction: DESC}}) {{
      pageInfo {{ hasNextPage endCursor }}
      nodes {{
        number title body url createdAt updatedAt closed closedAt authorAssociation
        author {{ login __typename }}
        comments(last: {COMMENTS}) {{
          nodes {{ {_AUTHORED} replies(last: {REPLIES}) {{ nodes {{ {_AUTHORED} }} }} }}
        }}
      }}
    }}
  }}
}}"""
FIND = """
query($owner: String!, $name: String!, $number: Int!) {
  repository(owner: $owner, name: $name) { discussion(number: $number) { id } }
}"""
COMMENT = """
mutation($discussion: ID!, $body: String!) {
  addDiscussionComment(input: {discussionId: $discussion, body: $body}) {
    comment { databaseId url }
  }
}"""
PREFIX = "discussion:"

GraphQL = Callable[[str, Mapping[str, object]], Awaitable[Mapping[str, object]]]
Side = Callable[[Mapping[str, object], str], "tuple[bool, str | None] | None"]


@dataclass(frozen=True)
class Walked:
    nodes: list[Mapping[str, object]]
    newest: datetime | None


async def walk(gql: GraphQL, repo: str, since: datetime) -> Walked:
    """Discussions updated at or after ``since`` (newest first), malformed ones left out."""
    owner, name = repo.split("/", 1)
    after: str | None = None
    nodes: list[Mapping[str, object]] = []
    newest: datetime | None = None
    for _ in range(MAX_PAGES):
        data = await gql(LIST, {"owner": owner, "name": name, "first": PAGE, "after": after})
        repository = obj(data.get("repository"), "repository")
        page = obj(repository.get("discussions"), "discussions")
        reached = False
        for raw in arr(page.get("nodes"), "nodes"):
            try:
                node = obj(raw)
                updated = when(node, "updatedAt")
            except BadItem:
                continue
            if updated < since:
                reached = True
                break
            newest = max(newest, updated) if newest else updated
            nodes.append(node)
        info = obj(page.get("pageInfo"), "pageInfo")
        if reached or not flag(info, "hasNextPage"):
            break
        after = string(info, "endCursor")
    return Walked(nodes, newest)


def _authored(node: Mapping[str, object]) -> Iterator[Mapping[str, object]]:
    comments = obj(node.get("comments"), "comments")
    for raw in arr(comments.get("nodes"), "comments"):
        comment = obj(raw)
        yield comment
        replies = comment.get("replies")
        if isinstance(replies, Mapping):
            for reply in arr(replies.get("nodes") or [], "replies"):
                yield obj(reply)


def _author(node: Mapping[str, object]) -> Mapping[str, object]:
    """GraphQL's author shape as the REST ``user`` shape ``Authors.side`` reads; deleted users are
    ``null`` (GitHub shows them as "ghost")."""
    raw = node.get("author")
    author = obj(raw) if raw is not None else {"login": "ghost"}
    kind = "Bot" if author.get("__typename") == "Bot" else "User"
    return {"login": string(author, "login"), "type": kind}


def messages(
    node: Mapping[str, object], *, source: str, repo: str, side: Side
) -> list[InboundMessage]:
    """The messages of one discussion; a malformed comment is skipped (``BadItem`` from the
    discussion itself propagates)."""
    number = str(integer(node, "number"))
    thread = PREFIX + number
    out: list[InboundMessage] = []
    user = _author(node)
    standing = side(user, string(node, "authorAssociation", ""))  # (is_team, person)
    if standing is not None:
        is_team, person = standing
        title, body = string(node, "title", ""), string(node, "body", "")
        out.append(InboundMessage(
            source=source, platform="github", message_id=f"{PREFIX}{number}", thread=thread,
            channel=repo, at=when(node, "createdAt"), author=Author(string(user, "login")),
            is_team=is_team, person=person, text=f"{title}\n{body}".strip(),
            url=string(node, "url", ""),
        ))  # fmt: skip
    for comment in _authored(node):
        try:
            out.extend(_comment(comment, source=source, repo=repo, thread=thread, side=side))
        except BadItem:
            continue
    closed_at = opt_when(node, "closedAt")
    if flag(node, "closed") and closed_at is not None:
        out.append(InboundMessage(
            source=source, platform="github",
            message_id=f"closed:{thread}:{int(closed_at.timestamp())}", thread=thread,
            channel=repo, at=closed_at, author=Author("github"), is_team=True,
            text="closed this discussion", url=string(node, "url", ""),
        ))  # fmt: skip
    return out


def _comment(
    comment: Mapping[str, object], *, source: str, repo: str, thread: str, side: Side
) -> list[InboundMessage]:
    user = _author(comment)
    standing = side(user, string(comment, "authorAssociation", ""))
    if standing is None:
        return []
    is_team, person = standing
    created = when(comment, "createdAt")
    updated = opt_when(comment, "updatedAt")
    edited = updated if updated is not None and updated > created else None
    return [InboundMessage(
        source=source, platform="github", message_id=f"dcomment:{ident(comment, 'databaseId')}",
        thread=thread, channel=repo, at=created, author=Author(string(user, "login")),
        is_team=is_team, person=person, text=string(comment, "body", ""),
        url=string(comment, "url", ""), kind=Kind.EDIT if edited else Kind.MESSAGE,
        edited_at=edited,
    )]  # fmt: skip


async def reply(gql: GraphQL, repo: str, thread: str, text: str) -> str:
    """Comment on a discussion; returns the id ``messages`` gives that comment."""
    number = thread.removeprefix(PREFIX)
    if not number.isdigit():
        raise PollError(f"{thread!r} is not a discussion", status=400)
    owner, name = repo.split("/", 1)
    found = await gql(FIND, {"owner": owner, "name": name, "number": int(number)})
    repository = obj(found.get("repository"), "repository")
    discussion = repository.get("discussion")
    if not isinstance(discussion, Mapping):
        raise PollError(f"discussion {number} not found", status=404)
    node_id = string(discussion, "id")
    done = await gql(COMMENT, {"discussion": node_id, "body": text})
    added = obj(obj(done.get("addDiscussionComment"), "result").get("comment"), "comment")
    return f"dcomment:{ident(added, 'databaseId')}"
