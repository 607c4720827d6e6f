"""The browser console: officials and auditors work in Vietnamese (or English) in server-rendered pages, each a
client of the same functions the API runs, so it adds no rule of authority, state or validation of its own.

web (wiring, security headers, refusals as pages) · session (signed cookie, CSRF) · signin (demo identities in
dev, OpenID Connect in production) · render and i18n (templates, words, dates) · forms (a step's payload schema as a
form) · caseview (what the case page shows) · pages (inbox, cases, deadlines, case) · actions (the writes).
"""
