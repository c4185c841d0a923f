// Package slack is a sink for Slack incoming webhooks: it accepts
// POST /services/T…/B…/<secret> with a JSON {text, blocks} payload, answers
// like Slack (HTTP 200 with the text/plain body "ok", or an error code as a
// text/plain body) and records accepted payloads for tests.
//
// Faithful (limits from https://api.slack.com/reference/block-kit/blocks and
// the incoming-webhook error list at https://api.slack.com/messaging/webhooks):
//   - Malformed JSON → 400 invalid_payload; neither text nor blocks → 400
//     no_text; an unknown path → 404 no_service.
//   - Block Kit checks → 400 invalid_blocks: at most 50 blocks; known block
//     types only (section, header, divider, context, actions, image,
//     rich_text, markdown); block_id ≤255 characters and unique; text
//     objects of type plain_text or mrkdwn with 1–3,000 characters;
//     section text ≤3,000 characters, at most 10 fields of ≤2,000
//     characters each, and text or fields required; header text plain_text
//     ≤150 characters; context 1–10 elements; actions 1–25 elements; image
//     with image_url (≤3,000) and alt_text (≤2,000). The reason (with a
//     JSON path such as blocks[3].text.text) is recorded in
//     [Server.Rejections]; Slack's body is only the error code.
//   - Knobs through the shared fault injector (operation "PostMessage"):
//     Throttle answers 429 rate_limited with a Retry-After header (seconds,
//     [Server.SetRetryAfter], default 1); ServerError answers the rule's
//     5xx; Latency and Drop as for the AWS emulators.
//
// Not modelled: attachments, interactive element details (buttons,
// selects), mrkdwn rendering, the 40,000-character text truncation,
// per-channel routing and revoked hooks.
package slack
