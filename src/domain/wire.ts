/** The shape of `data` on the wire: every scalar is a string. */
export type WireValue = string | WireObject | WireValue[];
export interface WireObject {
  [key: string]: WireValue;
}
