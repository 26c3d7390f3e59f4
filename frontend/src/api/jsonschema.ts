// A permissive JSON Schema type: step types and parameters come from plugins, so keep it open.
export interface JSONSchema7 {
  type?: string | string[];
  title?: string;
  description?: string;
  properties?: Record<string, JSONSchema7>;
  required?: string[];
  items?: JSONSchema7 | JSONSchema7[];
  enum?: unknown[];
  default?: unknown;
  anyOf?: JSONSchema7[];
  oneOf?: JSONSchema7[];
  allOf?: JSONSchema7[];
  additionalProperties?: boolean | JSONSchema7;
  [keyword: string]: unknown;
}
