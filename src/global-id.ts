/** Relay global ids of this API: base64 of `<Type>:<Kommo id>` (a status: `Status:<pipeline>:<status>`). */
export interface GlobalId {
  readonly typename: 'Lead' | 'Pipeline' | 'Status' | 'User';
  readonly id: string;
}

/** The type and Kommo id behind a global id, or null when it is not one of this API's. */
export function parseGlobalId(globalID: string): GlobalId | null {
  const text = /^[A-Za-z0-9+/=_-]{1,200}$/.test(globalID) ? Buffer.from(globalID, 'base64').toString() : '';
  const match = /^(Lead|Pipeline|Status|User):(\d{1,20}(?::\d{1,20})?)$/.exec(text);
  if (!match?.[1] || !match[2]) return null;
  return { typename: match[1] as GlobalId['typename'], id: match[2] };
}
